# The plugins this template needs, installed by `packer init packer/golden` (Packer 1.7+).
# Kept alone in this file: Packer 1.6.6 (Debian) does not know `required_plugins`, and the
# sandbox builds from a copy without it (sandbox/cattle_sandbox/packer_compat.py).
packer {
  required_plugins {
    amazon = {
      # imds_support and metadata_options.http_tokens need 1.2 or newer.
      version = ">= 1.2.0, < 2.0.0"
      source  = "github.com/hashicorp/amazon"
    }
    ansible = {
      version = ">= 1.1.0, < 2.0.0"
      source  = "github.com/hashicorp/ansible"
    }
  }
}
