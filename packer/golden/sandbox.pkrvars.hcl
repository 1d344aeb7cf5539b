# The golden template in the sandbox (moto as EC2, a booted stand-in as the build
# instance). What changes per run comes from the caller, not from here: the endpoint
# (image_build's endpoint_variable), the base image (source_ami), and the stand-in's SSH
# settings and ansible environment (StandIn.packer_vars() and packer_ansible_env_vars()).
# See README.md, "In the sandbox".

region = "us-east-1"

# The sandbox holds only what tests register: the base image is the account's own.
source_ami_owners = ["self"]

# moto accepts any type; the stand-in is what runs.
instance_type = "t3.small"

# Encrypted with the account's default key: the sandbox has no customer managed key to
# name. Packer copies the AMI encrypted and deregisters the first one, as on AWS.
encrypt_boot = true
kms_key_id   = ""

ami_regions = []
ami_users   = []

# The stand-in's login user; its address, port and key come per boot.
ssh_username = "admin"
ssh_timeout  = "2m"

# The build instance's temporary security group lets SSH in only from where Packer's SSH
# comes from: the sandbox's end of the stand-in's veth pair, 169.254.X.1 (X differs per
# stand-in; cattle_sandbox.standin.network). Nothing else can reach a stand-in.
ssh_source_cidrs = ["169.254.0.0/16"]
