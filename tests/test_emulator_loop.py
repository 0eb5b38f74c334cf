"""The emulator's event loop: posts from other threads racing the loop's end."""

from __future__ import annotations

import threading

from bg_pppd.emulator.loop import Loop


def test_posts_racing_the_loops_end_never_meet_a_closed_pipe():
    """stop() and posts from other threads while run() ends and closes its wake pipe: none may
    raise (EPIPE from a half-closed pipe, EBADF) or write into a closed fd's reused number. Seen
    once in CI: the emulator's stop() raised BrokenPipeError in a test's clean-up."""
    errors: list[BaseException] = []
    for _ in range(300):
        loop = Loop()
        runner = threading.Thread(target=loop.run)
        runner.start()
        go = threading.Event()

        def poster(loop: Loop = loop, go: threading.Event = go) -> None:
            go.wait()
            try:
                for _ in range(50):
                    loop.post(lambda: None)
            except BaseException as exc:  # the test collects what a post raised
                errors.append(exc)
        posters = [threading.Thread(target=poster) for _ in range(2)]
        for t in posters:
            t.start()
        go.set()
        try:
            loop.stop()
        except BaseException as exc:  # what stop() raised
            errors.append(exc)
        runner.join(5)
        for t in posters:
            t.join(5)
        assert not runner.is_alive()
    assert errors == [], errors[:3]
