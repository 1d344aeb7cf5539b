# Smoke template for the sandbox: the amazon-ebs builder against the emulated AWS.
# Build "none" launches and snapshots without connecting; build "ssh" connects to a
# booted stand-in instead of the (fake) instance address and runs a playbook there
# through the ansible provisioner. Choose one with -only.

variable "endpoint" {
  type = string
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "source_ami" {
  type = string
}

variable "ami_name" {
  type = string
}

variable "app" {
  type = string
}

variable "ssh_host" {
  type    = string
  default = ""
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "ssh_username" {
  type    = string
  default = "admin"
}

variable "ssh_private_key_file" {
  type    = string
  default = ""
}

variable "playbook" {
  type    = string
  default = "one-task.yml"
}

variable "ansible_env_vars" {
  type    = list(string)
  default = []
}

variable "ansible_playbook_command" {
  type    = string
  default = "ansible-playbook"
}

source "amazon-ebs" "smoke" {
  region                      = var.region
  custom_endpoint_ec2         = var.endpoint
  skip_credential_validation  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  source_ami                  = var.source_ami
  instance_type               = "t3.micro"
  ami_name                    = var.ami_name
  tags = {
    "cattle:app"        = var.app
    "cattle:managed-by" = "cattle.immutable"
  }
}

build {
  source "amazon-ebs.smoke" {
    name         = "none"
    communicator = "none"
  }
}

build {
  source "amazon-ebs.smoke" {
    name                 = "ssh"
    communicator         = "ssh"
    ssh_host             = var.ssh_host
    ssh_port             = var.ssh_port
    ssh_username         = var.ssh_username
    ssh_private_key_file = var.ssh_private_key_file
  }

  provisioner "ansible" {
    playbook_file = var.playbook
    command       = var.ansible_playbook_command
    user          = var.ssh_username
    # The stand-in's known_hosts: Packer would otherwise turn host key checking off.
    ansible_env_vars = var.ansible_env_vars
    # Packer 1.6's SSH proxy offers only ssh-rsa, which current OpenSSH refuses.
    use_proxy = false
  }
}
