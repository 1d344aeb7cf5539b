# Variables image_build passes to every template (the contract, see
# `ansible-doc cattle.immutable.image_build`): app, ami_name, fingerprint, source_ami,
# validation_report, manifest_path.

variable "app" {
  type = string
}

variable "ami_name" {
  type = string
}

variable "fingerprint" {
  type = string
}

variable "source_ami" {
  type = string
}

variable "validation_report" {
  type        = string
  description = "Controller path where the build leaves its validation report (JSON)."
}

variable "manifest_path" {
  type = string
}

# This template's own variables.

variable "endpoint" {
  type        = string
  default     = ""
  description = "EC2 endpoint URL; empty means AWS's. Packer 1.6 ignores AWS_ENDPOINT_URL."
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "t3.micro"
}

variable "validation_result" {
  type        = string
  default     = "passed"
  description = "What the stand-in validation reports: passed, failed, or empty for no report."
}

variable "lynis_score" {
  type    = number
  default = 70
}

variable "fail_build" {
  type        = bool
  default     = false
  description = "Make the build fail after the instance started (to test failure handling)."
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

variable "ansible_env_vars" {
  type    = list(string)
  default = []
}

variable "ansible_playbook_command" {
  type    = string
  default = "ansible-playbook"
}
