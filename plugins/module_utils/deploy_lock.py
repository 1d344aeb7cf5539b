# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cattle.immutable.deploy_lock: an app's deploy lock acquired, renewed or released (the
lock itself is _lock/locking.py, which the fleet, green_switch and rollback_switch modules
also take and give back)."""

from ansible_collections.cattle.immutable.plugins.module_utils._lock import locking
from ansible_collections.cattle.immutable.plugins.module_utils._pipeline.run_identity import local_user


def run_module(module):
    request = dict(module.params)
    request["owner"] = request["owner"] or local_user()
    request["token"] = request.pop("acquisition", None)
    try:
        locking.validate_request(request)
        return locking.run(module.client("dynamodb"), request, check_mode=module.check_mode)
    except (locking.LockError, locking.TableNotReady) as error:
        raise locking.lock_failure(error) from error
