"""Kernel > Interrupt (km.interrupt_kernel()) during a blocking get: KeyboardInterrupt at
once, the awaited tasks and the cell's other tasks are cancelled, earlier cells' tasks
are not, and `%nbray config cancel_on_interrupt=false` turns the cancelling off."""

from __future__ import annotations

import re
import time

from ._kernel_session import TIMEOUT, poll_for

# A traceback line of a frame in nbray's own code ("File .../nbray/runtime/blocking.py:33").
NBRAY_FRAME = re.compile(r"^File [^\n]*[/\\]nbray[/\\]", re.M)

INTERRUPT_LATENCY = 1.0  # seconds from interrupt_kernel() to KeyboardInterrupt in the cell

TASKS = """
import time

@nbray.remote
def hold(name, flags):
    import os, time
    open(os.path.join(flags, 'started-' + name), 'w').close()
    while not os.path.exists(os.path.join(flags, 'release')):
        time.sleep(0.01)
    return name
FLAGS = {flags!r}

def waiting(refs):  # nbray.get(refs), noting when a KeyboardInterrupt got here
    global interrupted_at
    try:
        return nbray.get(refs)
    except KeyboardInterrupt:
        interrupted_at = time.time()
        raise
"""


def _progress_bar_shown(k, msg_id):
    """Wait until the cell is blocked inside get(), its progress bar drawn and ticking.

    The first update of the bar's label is sent from the polling loop, after the bar was
    built: an interrupt from now on lands in the wait (not half-way through building
    widgets).
    """
    return k.wait_for_message(
        lambda m: (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "comm_msg"
                   and str(m["content"]["data"].get("state", {}).get("value", "")).startswith(
                       "get ")),
        TIMEOUT, "the progress bar of the blocking get to tick")


def _bar_and_label(cell):
    """(IntProgress state, its HTML label's text) as the front end holds them."""
    models = cell.comm_models()
    bar = next(s for s in models.values() if s.get("_model_name") == "IntProgressModel")
    label = next(s for s in models.values() if s.get("_model_name") == "HTMLModel")
    return bar, re.sub(r"<[^>]+>", "", label["value"])


def _interrupt(k, msg_id):
    """Interrupt the kernel; return the failed cell and the interrupt's latency in the cell.

    The latency is measured to the moment the KeyboardInterrupt reached the cell's code (the
    same machine's wall clock on both sides), not to the error message, which also includes
    IPython formatting the traceback.
    """
    sent = time.time()
    k.km.interrupt_kernel()
    cell = k.wait_idle(msg_id, allow_errors=True)
    assert cell.error["ename"] == "KeyboardInterrupt", cell.error
    return cell, k.value("interrupted_at") - sent


def _wait_free_cpus(k, cpus, what):
    """Poll until `cpus` CPUs are free; on timeout, say which tasks still hold CPUs."""
    def free():
        return k.value("nbray.available_resources()['CPU']") == cpus

    try:
        poll_for(free, TIMEOUT, what)
    except BaseException:
        pending = k.value("[(o['object_id'], o['created_by']) for o in "
                          "nbray.memory(where='pending', limit=None).objects]")
        running = sorted(p.name[len("started-"):] for p in k.flags.glob("started-*"))
        raise AssertionError(f"{what}: still pending objects {pending}; tasks that started: "
                             f"{running}") from None


def test_interrupt_cancels_the_awaited_tasks(nbray_kernel, tmp_path):
    k = nbray_kernel
    k.execute(TASKS.format(flags=str(tmp_path)))
    k.flags = tmp_path
    msg_id = k.submit("refs = [hold.remote(f'a{i}', FLAGS) for i in range(4)]\nwaiting(refs)")
    poll_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, TIMEOUT, "two running tasks")
    _progress_bar_shown(k, msg_id)
    cell, latency = _interrupt(k, msg_id)
    assert latency < INTERRUPT_LATENCY, f"KeyboardInterrupt came {latency:.2f} s after the interrupt"
    # the CPUs come back without releasing the tasks: they were cancelled
    _wait_free_cpus(k, 2.0, "both CPUs free after the interrupt")
    k.execute(
        "kinds = []\nfor r in refs:\n    try:\n        nbray.get(r, timeout=10)\n"
        "        kinds.append('finished')\n    except Exception as e:\n"
        "        kinds.append('cancelled' if isinstance(e, nbray.exceptions.TaskCancelledError)\n"
            "                     else type(e).__name__)")
    # As in Ray, a task cancelled while running raises RayTaskError(TaskCancelledError), one
    # cancelled before it ran a plain TaskCancelledError: both are TaskCancelledErrors.
    assert k.value("kinds") == ["cancelled"] * 4
    # the widget bar was left saying what happened, in the warning colour (failures use
    # the error colour), and the next cell works
    assert any(m["msg_type"] == "comm_msg" and m["content"]["data"].get("state", {}).get(
        "bar_style") == "warning" for m in cell.messages)
    bar, text = _bar_and_label(cell)
    assert (bar["bar_style"], bar["description"], bar["value"]) == ("warning", "interrupted", 0)
    assert re.fullmatch(r"get 4 objects: interrupted after \d+\.\d s: cancelled 4 of 4", text), text
    # the traceback shows the user's frames (the cell, then waiting()), none of nbray's
    tb = cell.traceback_text()
    assert "----> 2 waiting(refs)" in tb and "return nbray.get(refs)" in tb, tb
    assert not NBRAY_FRAME.search(tb) and "skipping hidden" not in tb, tb
    assert k.execute("%%remote\n'next cell works'").result == "'next cell works'"


def test_interrupt_spares_tasks_of_earlier_cells(nbray_kernel, tmp_path):
    k = nbray_kernel
    k.execute(TASKS.format(flags=str(tmp_path)))
    k.flags = tmp_path
    k.execute("earlier = hold.remote('earlier', FLAGS)")
    poll_for(lambda: (tmp_path / "started-earlier").exists(), TIMEOUT, "the earlier task to run")
    msg_id = k.submit("background = hold.remote('background', FLAGS)\n"
                      "awaited = [hold.remote('awaited0', FLAGS), hold.remote('awaited1', FLAGS)]\n"
                      "waiting(awaited)")
    poll_for(lambda: (tmp_path / "started-background").exists(), TIMEOUT, "the background task")
    _progress_bar_shown(k, msg_id)
    _, latency = _interrupt(k, msg_id)
    assert latency < INTERRUPT_LATENCY, f"KeyboardInterrupt came {latency:.2f} s after the interrupt"
    # the cell's own tasks (awaited or not) are cancelled; the earlier cell's task keeps its CPU
    _wait_free_cpus(k, 1.0, "one CPU free (the earlier task still running)")
    (tmp_path / "release").touch()
    assert k.value(f"nbray.get(earlier, timeout={TIMEOUT})") == "earlier"
    k.execute(
        "kinds = []\nfor r in [background] + awaited:\n    try:\n        nbray.get(r, timeout=10)\n"
        "        kinds.append('finished')\n    except Exception as e:\n"
        "        kinds.append('cancelled' if isinstance(e, nbray.exceptions.TaskCancelledError)\n"
            "                     else type(e).__name__)")
    assert k.value("kinds") == ["cancelled"] * 3


def test_cancel_on_interrupt_false_keeps_the_tasks(nbray_kernel, tmp_path):
    k = nbray_kernel
    cfg = k.execute("%nbray config cancel_on_interrupt=false")
    assert cfg.result == "{'cancel_on_interrupt': False}"
    assert k.execute("%nbray config").result == "{'cancel_on_interrupt': False}"
    k.execute(TASKS.format(flags=str(tmp_path)))
    k.flags = tmp_path
    msg_id = k.submit("refs = [hold.remote(f'k{i}', FLAGS) for i in range(2)]\nwaiting(refs)")
    poll_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, TIMEOUT, "two running tasks")
    _progress_bar_shown(k, msg_id)
    cell, latency = _interrupt(k, msg_id)
    assert latency < INTERRUPT_LATENCY, f"KeyboardInterrupt came {latency:.2f} s after the interrupt"
    _, text = _bar_and_label(cell)
    assert text.endswith(": 0 of 2 done, 2 still running"), text
    # the interrupt stopped the wait, not the work
    assert k.value("nbray.available_resources()['CPU']") == 0.0
    (tmp_path / "release").touch()
    assert k.value(f"nbray.get(refs, timeout={TIMEOUT})") == ["k0", "k1"]
    assert k.execute("%nbray config cancel_on_interrupt=true").result == \
        "{'cancel_on_interrupt': True}"


def test_config_rejects_unknown_keys_and_values(nbray_kernel):
    k = nbray_kernel
    bad_key = k.execute("%nbray config colour=blue", allow_errors=True)
    assert bad_key.error["ename"] == "ValueError"
    assert "cancel_on_interrupt" in bad_key.error["evalue"]
    bad_value = k.execute("%nbray config cancel_on_interrupt=maybe", allow_errors=True)
    assert bad_value.error["ename"] == "ValueError"
    assert "true or false" in bad_value.error["evalue"]
