# prod variables
region = "eu-west-1" # where it runs

/* the image, pinned by bakery */
app_image     = "registry.example/app:1.2" # replaced on promote
desired_count = 3
