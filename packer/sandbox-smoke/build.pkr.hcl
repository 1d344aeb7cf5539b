# A small build template for the sandbox (moto and a booted stand-in), until the golden
# template lands in packer/. Two builds, chosen with image_build's `only`:
#   amazon-ebs.none  launches and snapshots without connecting; the validation report is
#                    written on the controller by a shell-local step.
#   amazon-ebs.ssh   connects to a stand-in (ssh_host/ssh_port) and runs image.yml in it
#                    through the ansible provisioner, which fetches the report.
# Works with Packer 1.6.6 (Debian); keep `required_plugins` out of this directory.

source "amazon-ebs" "sandbox" {
  region                     = var.region
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  source_ami                 = var.source_ami
  instance_type              = var.instance_type
  ami_name                   = var.ami_name
  ami_description            = "${var.app} sandbox image ${var.fingerprint}"
  # cattle:built-at is image_build's alone: it marks a finished build.
  tags = {
    "cattle:app"         = var.app
    "cattle:managed-by"  = "cattle.immutable"
    "cattle:fingerprint" = var.fingerprint
  }
}

build {
  source "amazon-ebs.sandbox" {
    name         = "none"
    communicator = "none"
  }

  source "amazon-ebs.sandbox" {
    name                 = "ssh"
    communicator         = "ssh"
    ssh_host             = var.ssh_host
    ssh_port             = var.ssh_port
    ssh_username         = var.ssh_username
    ssh_private_key_file = var.ssh_private_key_file
  }

  provisioner "ansible" {
    only          = ["amazon-ebs.ssh"]
    playbook_file = "${path.root}/image.yml"
    command       = var.ansible_playbook_command
    user          = var.ssh_username
    extra_arguments = [
      "--extra-vars", "validation_report=${var.validation_report} validation_result=${var.validation_result} lynis_score=${var.lynis_score}",
    ]
    # The stand-in's known_hosts: Packer would otherwise turn host key checking off.
    ansible_env_vars = var.ansible_env_vars
    # Packer 1.6's SSH proxy offers only ssh-rsa, which current OpenSSH refuses.
    use_proxy = false
  }

  provisioner "shell-local" {
    only   = ["amazon-ebs.none"]
    inline = [var.validation_result == "" ? "true" : "printf '%s\\n' '${jsonencode({ result = var.validation_result, lynis_score = var.lynis_score })}' > '${var.validation_report}'"]
  }

  provisioner "shell-local" {
    inline = [var.fail_build ? "echo 'sandbox-smoke: failing on purpose (fail_build = true)' >&2; exit 3" : "true"]
  }

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      app         = var.app
      fingerprint = var.fingerprint
      source_ami  = var.source_ami
    }
  }
}
