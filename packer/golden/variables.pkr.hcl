# Variables of the golden image template. Every one is typed and described; README.md
# in this directory lists them by group.

# --- The image_build contract -------------------------------------------------------------
# cattle.immutable.image_build passes these (see `ansible-doc cattle.immutable.image_build`).
# Given by hand, a plain `packer build` works too.

variable "app" {
  type        = string
  description = "App the image is for (lowercase letters, digits, single hyphens; at most 20 characters)."

  validation {
    # regex_replace rather than regex: Packer 1.6.6 has only the former.
    condition     = length(var.app) >= 1 && length(var.app) <= 20 && regex_replace(var.app, "^[a-z](?:[a-z0-9]|-[a-z0-9])*$", "") == ""
    error_message = "The app must be 1-20 lowercase letters, digits and single inner hyphens, starting with a letter."
  }
}

variable "ami_name" {
  type        = string
  description = "Name of the new AMI; image_build passes <app>-<first 16 digits of the fingerprint>."
}

variable "fingerprint" {
  type        = string
  description = "Hash of the build inputs, tagged as cattle:fingerprint and written into the image's metric."
}

variable "source_ami" {
  type        = string
  default     = ""
  description = "Base AMI id. Empty: the newest AMI that source_ami_owners and source_ami_filters find."

  validation {
    condition     = regex_replace(var.source_ami, "^(?:ami-(?:[0-9a-f]{8}|[0-9a-f]{17}))?$", "") == ""
    error_message = "The source_ami must be empty or an AMI id (ami- and 8 or 17 hexadecimal digits)."
  }
}

variable "validation_report" {
  type        = string
  default     = "validation-report.json"
  description = "Controller path where the image playbook leaves its validation report (JSON: result, lynis_score, ...)."
}

variable "manifest_path" {
  type        = string
  default     = "packer-manifest.json"
  description = "Output file of the manifest post-processor."
}

variable "endpoint" {
  type        = string
  default     = ""
  description = "EC2 endpoint URL (custom_endpoint_ec2); empty means AWS's own. image_build fills it with endpoint_variable=endpoint."
}

# --- Where and what to build --------------------------------------------------------------

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region the build runs in and the AMI is registered in."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Instance type of the build instance."
}

variable "source_ami_owners" {
  type        = list(string)
  default     = ["136693071363"]
  description = "Owners of the base image when source_ami is empty (default: Debian's account)."
}

variable "source_ami_filters" {
  type = map(string)
  default = {
    name                = "debian-12-amd64-*"
    architecture        = "x86_64"
    virtualization-type = "hvm"
    root-device-type    = "ebs"
  }
  description = "DescribeImages filters for the base image when source_ami is empty; the newest match wins."
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the build instance; empty lets Packer pick the default VPC's."
}

variable "iam_instance_profile" {
  type        = string
  default     = ""
  description = "Instance profile of the build instance (for example for SSM); empty for none."
}

variable "root_device_name" {
  type        = string
  default     = "/dev/xvda"
  description = "Root device of the base image (/dev/xvda for Debian's AMIs)."
}

variable "root_volume_size" {
  type        = number
  default     = 8
  description = "Root volume size in GiB."
}

variable "root_volume_type" {
  type        = string
  default     = "gp3"
  description = "Root volume type."
}

# --- Encryption and distribution ----------------------------------------------------------

variable "encrypt_boot" {
  type        = bool
  default     = true
  description = "Encrypt the AMI's root snapshot. Packer then copies the AMI encrypted and deregisters the unencrypted one; the manifest names the copy."
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key (id, ARN or alias/...) for the encrypted root volume; empty uses the account's aws/ebs key, which cannot be shared with other accounts."
}

variable "region_kms_key_ids" {
  type        = map(string)
  default     = {}
  description = "KMS key per region in ami_regions for the encrypted copies."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Other regions to copy the AMI to (image_distribute does this after validation too)."
}

variable "ami_users" {
  type        = list(string)
  default     = []
  description = "Account ids allowed to launch the AMI."
}

# --- Provenance ---------------------------------------------------------------------------

variable "app_version" {
  type        = string
  default     = ""
  description = "Version of the app artifact in the image, for the image's metric and the manifest; empty leaves the app role's default."
}

variable "vcs_revision" {
  type        = string
  default     = ""
  description = "Source revision of the build inputs, tagged as cattle:vcs-revision when given."
}

# --- How Packer reaches the build instance ------------------------------------------------
# The sandbox points these at a booted stand-in (cattle_sandbox.standin.StandIn.packer_vars()).

# Who may reach the build instance's SSH port. Packer creates a temporary security group
# for the build instance and deletes it after the build; these CIDRs are its only ingress
# (port 22, or ssh_port). Required, with no default: give the address Packer connects from,
# as AWS sees it (a NAT or VPN address, or the controller's subnet when Packer runs inside
# the VPC).
variable "ssh_source_cidrs" {
  type        = list(string)
  description = "IPv4 CIDRs allowed to SSH to the build instance (its temporary security group's only ingress). Required; one ending in /0 (any address) only with ssh_allow_any_source = true."

  validation {
    # regex_replace rather than regex: Packer 1.6.6 has only the former.
    condition     = length(var.ssh_source_cidrs) > 0 && length([for cidr in var.ssh_source_cidrs : cidr if regex_replace(cidr, "^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(?:3[0-2]|[12]?[0-9])$", "") != ""]) == 0
    error_message = "The ssh_source_cidrs must be a non-empty list of IPv4 CIDRs such as 203.0.113.10/32: the addresses Packer connects from. Nothing was created."
  }
}

variable "ssh_allow_any_source" {
  type        = bool
  default     = false
  description = "Allow ssh_source_cidrs to contain a CIDR ending in /0 (0.0.0.0/0: any address may reach the build instance's SSH). Off: such a value is refused before anything is created."
}

variable "ssh_username" {
  type        = string
  default     = "admin"
  description = "Login user of the base image (admin on Debian)."
}

variable "ssh_host" {
  type        = string
  default     = ""
  description = "Address to SSH to; empty uses the instance's (see ssh_interface)."
}

variable "ssh_port" {
  type        = number
  default     = 22
  description = "SSH port of the build instance."
}

variable "ssh_interface" {
  type        = string
  default     = ""
  description = "Which address of the instance to SSH to: public_ip, private_ip, public_dns, private_dns or session_manager; empty lets Packer choose."
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "Private key for SSH; empty makes Packer create a temporary key pair."
}

variable "ssh_timeout" {
  type        = string
  default     = "10m"
  description = "How long to wait for SSH to come up."
}

# --- The ansible provisioner --------------------------------------------------------------

variable "playbook_file" {
  type        = string
  default     = ""
  description = "The image playbook; empty means this collection's playbooks/image.yml (relative to this template)."
}

variable "ansible_playbook_command" {
  type        = string
  default     = "ansible-playbook"
  description = "The ansible-playbook command Packer runs on the controller."
}

variable "ansible_env_vars" {
  type        = list(string)
  default     = []
  description = "Extra NAME=value environment for ansible-playbook, after the template's own (pipelining, persistent SSH); a later value of the same name wins."
}

variable "ansible_extra_arguments" {
  type        = list(string)
  default     = []
  description = "More ansible-playbook arguments, for example [\"--extra-vars\", \"image_validate_lynis_min_score=80\"]."
}
