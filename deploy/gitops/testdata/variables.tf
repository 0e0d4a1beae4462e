# inputs of the prod stack
variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "app_image" {
  description = "the app's image, pinned by bakery" # keep
  type        = string
  default     = "registry.example/app:1.2"
}
