# A golden machine image: Debian 12 with the same hardening as the golden-base
# container image, its SBOM taken from inside the machine, recorded, signed and
# attested by bakery. `bakery build golden-ami` runs it with packer; so does
# `packer build` with BAKERY_CONFIG pointing at the bakery.yaml.
#
# It bakes offline with bakery-chroot from a debootstrap'd rootfs and registers
# the result with the EC2 endpoint the AWS SDK is configured for (make demo
# starts a local one). Against AWS, swap the source for amazon-ebs: the
# post-processor reads AMI ids from any amazon builder's artifact.
packer {
  required_plugins {
    bakery = {
      source  = "github.com/bakeryhq/bakery"
      version = ">= 0.1.0"
    }
  }
}

variable "source_rootfs" {
  type        = string
  description = "The base image: a Debian rootfs tarball (make up debootstraps one)."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "ami_name" {
  type    = string
  default = "golden-ami"
}

source "bakery-chroot" "debian" {
  source_rootfs = var.source_rootfs
  ami_name      = "${var.ami_name}-${formatdate("YYYYMMDDhhmmss", timestamp())}"
  ami_region    = var.region
}

build {
  sources = ["source.bakery-chroot.debian"]

  # Hardening: the same steps as examples/golden-base/Dockerfile, plus the
  # ones only a machine needs.
  provisioner "shell" {
    script = "${path.root}/harden.sh"
  }

  # The hardening checked inside the machine before it is sealed: the
  # suites bakery.yaml gives golden-ami (examples/tests/golden-ami.yaml). A
  # suite that fails does not stop the build here; the post-processor
  # records its FAILED result and fails, and dev's tag stays.
  provisioner "bakery-test" {}

  # The SBOM of what is installed, read from the machine's dpkg database.
  # background: catalogued while the builder packs the image; the bakery
  # post-processor below waits for it.
  provisioner "bakery-sbom" {
    background = true
  }

  # Record, attest (with the bakery-test results), sign; tag the first
  # environment of bakery.yaml.
  post-processor "bakery" {}
}
