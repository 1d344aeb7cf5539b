# The golden image: Packer boots the base image, runs playbooks/image.yml in it (hardening,
# monitoring, app, validation, cleanup) through the ansible provisioner, and registers an
# encrypted AMI with provenance tags and a manifest.
#
#   packer init packer/golden                      # current Packer: installs the plugins
#   ansible-playbook playbooks/build.yml -e app=web   # through cattle.immutable.image_build
#
# Written for current Packer. Debian's Packer 1.6.6 rejects exactly three things here:
# `required_plugins` (plugins.pkr.hcl), the `metadata_options` block and the `imds_support`
# line; the sandbox builds from a copy without them (README.md, "Packer 1.6.6"), and
# image_build sets ImdsSupport on the AMI afterwards.

locals {
  # Once, when Packer reads the template. Not cattle:built-at: image_build writes that one
  # last, and an AMI without it counts as an unfinished build.
  build_started = timestamp()

  playbook_file = var.playbook_file != "" ? var.playbook_file : "${path.root}/../../playbooks/image.yml"

  provenance_tags = merge(
    {
      "cattle:app"            = var.app
      "cattle:managed-by"     = "cattle.immutable"
      "cattle:fingerprint"    = var.fingerprint
      "cattle:source-ami"     = "{{ .SourceAMI }}"
      "cattle:packer-version" = packer.version
      "cattle:build-started"  = local.build_started
    },
    var.vcs_revision == "" ? {} : { "cattle:vcs-revision" = var.vcs_revision },
  )

  # What the image playbook needs to know about the build (see playbooks/image.yml); an
  # empty app_version leaves the playbook's default.
  playbook_vars = merge(
    {
      image_app               = var.app
      image_fingerprint       = var.fingerprint
      image_validation_report = var.validation_report
    },
    var.app_version == "" ? {} : { image_app_version = var.app_version },
  )

  # The build instance's SSH ingress. A variable's validation may read only that variable
  # (Packer 1.6.6 and later), so the check against ssh_allow_any_source is made here: a CIDR
  # ending in /0 without it stops Packer while it reads the template, before any AWS call,
  # on a file() call whose "path" is the refusal (split() only gives it the list type).
  # playbooks/build.yml refuses earlier, in its own words, for what it is given.
  any_address_cidrs = [for cidr in var.ssh_source_cidrs : cidr if regex_replace(cidr, "/0$", "") != cidr]
  ssh_source_cidrs = length(local.any_address_cidrs) == 0 || var.ssh_allow_any_source ? var.ssh_source_cidrs : split("\n", file(
    "REFUSED ssh_source_cidrs = ${jsonencode(local.any_address_cidrs)} lets any address SSH to the build instance; set ssh_allow_any_source = true to allow that. Nothing was created."
  ))

  # Fast provisioning: one SSH connection kept open and modules piped through it, not
  # copied. The caller's ansible_env_vars come after these and win.
  ansible_env_defaults = [
    "ANSIBLE_PIPELINING=True",
    "ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=120s -o ServerAliveInterval=30",
    "ANSIBLE_NOCOLOR=True",
    # Plain task lines in Packer's log (a caller's environment may name another callback).
    "ANSIBLE_STDOUT_CALLBACK=default",
    "ANSIBLE_RETRY_FILES_ENABLED=False",
    # An inventory's ansible_python_interpreter still wins; this only quiets the discovery warning.
    "ANSIBLE_PYTHON_INTERPRETER=auto_silent",
  ]
}

source "amazon-ebs" "golden" {
  region                     = var.region
  custom_endpoint_ec2        = var.endpoint
  skip_region_validation     = var.endpoint != ""
  skip_credential_validation = var.endpoint != ""
  skip_metadata_api_check    = var.endpoint != ""

  source_ami = var.source_ami == "" ? null : var.source_ami
  dynamic "source_ami_filter" {
    for_each = var.source_ami == "" ? [var.source_ami_filters] : []
    content {
      filters     = source_ami_filter.value
      owners      = var.source_ami_owners
      most_recent = true
    }
  }

  instance_type        = var.instance_type
  subnet_id            = var.subnet_id
  iam_instance_profile = var.iam_instance_profile

  # IMDSv2 only, on the build instance and on instances launched from the AMI.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"

  launch_block_device_mappings {
    device_name           = var.root_device_name
    volume_size           = var.root_volume_size
    volume_type           = var.root_volume_type
    # gp3's baseline, given explicitly: Packer 1.6.6 refuses gp3 without them.
    throughput            = var.root_volume_type == "gp3" ? 125 : null
    iops                  = var.root_volume_type == "gp3" ? 3000 : null
    encrypted             = var.encrypt_boot
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }
  encrypt_boot       = var.encrypt_boot
  kms_key_id         = var.kms_key_id
  ami_regions        = var.ami_regions
  region_kms_key_ids = var.region_kms_key_ids
  ami_users          = var.ami_users

  ami_name        = var.ami_name
  ami_description = "${var.app} golden image ${substr(var.fingerprint, 0, 16)}, built by cattle.immutable"
  tags            = local.provenance_tags
  snapshot_tags = {
    "cattle:app"         = var.app
    "cattle:managed-by"  = "cattle.immutable"
    "cattle:fingerprint" = var.fingerprint
  }
  run_tags = {
    "Name"              = "packer ${var.ami_name}"
    "cattle:app"        = var.app
    "cattle:managed-by" = "cattle.immutable"
  }
  run_volume_tags = {
    "cattle:app"        = var.app
    "cattle:managed-by" = "cattle.immutable"
  }

  # Packer's temporary security group lets SSH in from these CIDRs only. Packer 1.6.6 has
  # no temporary_security_group_source_public_ip (current plugins do).
  temporary_security_group_source_cidrs = local.ssh_source_cidrs

  communicator         = "ssh"
  ssh_username         = var.ssh_username
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_interface        = var.ssh_interface
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = var.ssh_timeout
}

build {
  sources = ["source.amazon-ebs.golden"]

  provisioner "ansible" {
    playbook_file    = local.playbook_file
    command          = var.ansible_playbook_command
    user             = var.ssh_username
    extra_arguments  = concat(["--extra-vars", jsonencode(local.playbook_vars)], var.ansible_extra_arguments)
    ansible_env_vars = concat(local.ansible_env_defaults, var.ansible_env_vars)
    # Packer connects ansible to the instance directly. Its SSH proxy is not needed, and
    # Packer 1.6's offers only ssh-rsa, which current OpenSSH refuses.
    use_proxy = false
  }

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      app           = var.app
      app_version   = var.app_version
      fingerprint   = var.fingerprint
      source_ami    = "${build.SourceAMI}"
      vcs_revision  = var.vcs_revision
      encrypted     = var.encrypt_boot ? "true" : "false"
      build_started = local.build_started
    }
  }
}
