"""When each task of an ansible-playbook run started and ended, from the json callback's durations.

Shared by the benchmarks that break a run's wall time down by task.
"""

from datetime import datetime


def task_times(run):
    """[(task name, start, end)] of every task of a PlaybookRun that the callback timed, as aware UTC datetimes."""
    found = []
    for task in run.tasks():
        duration = task["task"].get("duration") or {}
        if duration.get("start") and duration.get("end"):
            found.append((task["task"]["name"], parse_time(duration["start"]), parse_time(duration["end"])))
    return found


def timed_tasks(run):
    """[(task name, seconds)] of every timed task, in the order they ran."""
    return [(name, (end - start).total_seconds()) for name, start, end in task_times(run)]


def parse_time(text):
    # The callback writes utcnow().isoformat() and a Z; isoformat leaves out a zero microsecond.
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
