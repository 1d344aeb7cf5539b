"""AMIs with content: what moto's image calls do to the sandbox's image store (image_store.py).

- RunInstances: the oldest stand-in bound with no instance id plays the first instance
  launched (Auto Scaling launches do not take it: only the RunInstances call does).
- CreateImage of an instance a stand-in plays keeps the stand-in's root file system as the
  new AMI's content. It happens before CreateImage answers (about 1 s), so the AMI is
  available at once, as moto makes it; the sandbox's other requests wait meanwhile.
- CopyImage: the copy gets its source's content.
- DeregisterImage: the AMI's reference goes; the content with the last one.

These patches wrap images.py's (fidelity.PATCH_MODULES lists this module after it), so a
call that images.py refuses (a duplicate name) keeps nothing.
"""

from typing import Any

from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.responses.instances import InstanceResponse
from moto.core.responses import ActionResult

from .fidelity import Fidelity
from .patching import bound_arguments, patch


@patch(InstanceResponse, "run_instances")
def run_instances(fidelity: Fidelity, original: Any, response: InstanceResponse) -> ActionResult:
    result = original(response)
    fidelity.image_store.launched([instance.id for instance in result.result.instances])
    return result


@patch(AmiBackend, "create_image")
def create_image(fidelity: Fidelity, original: Any, backend: AmiBackend, *args: Any, **kwargs: Any) -> Ami:
    ami = original(backend, *args, **kwargs)
    instance_id = bound_arguments(original, (backend, *args), kwargs)["instance_id"]
    fidelity.image_store.image_created(ami.id, instance_id)
    return ami


@patch(AmiBackend, "copy_image")
def copy_image(fidelity: Fidelity, original: Any, backend: AmiBackend, *args: Any, **kwargs: Any) -> Ami:
    ami = original(backend, *args, **kwargs)
    fidelity.image_store.image_copied(bound_arguments(original, (backend, *args), kwargs)["source_image_id"], ami.id)
    return ami


@patch(AmiBackend, "deregister_image")
def deregister_image(fidelity: Fidelity, original: Any, backend: AmiBackend, *args: Any, **kwargs: Any) -> None:
    original(backend, *args, **kwargs)
    fidelity.image_store.image_deregistered(bound_arguments(original, (backend, *args), kwargs)["ami_id"])
