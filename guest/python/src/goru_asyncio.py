"""An asyncio event loop that works under WASI.

The stock loop needs a self-pipe (socketpair) and a selector over sockets; a WASI
guest has neither, so `asyncio.run()` fails out of the box. The sandbox has no
sockets for user code to watch anyway (network access is a host function), so the
loop only ever waits for timers: it sleeps until the next one is due.
"""

import asyncio
import asyncio.base_events
import asyncio.events
import selectors
import time


class _TimerOnlySelector(selectors.BaseSelector):
    def register(self, fileobj, events, data=None):
        raise OSError("the goru sandbox has no file descriptors to watch; use host functions for I/O")

    def unregister(self, fileobj):
        raise KeyError(fileobj)

    def select(self, timeout=None):
        if timeout is None:
            # Nothing is scheduled and nothing can wake us: waiting would hang
            # until the run's deadline, so fail now and say why.
            raise RuntimeError("event loop would wait forever: no timers and no I/O are pending")
        if timeout > 0:
            time.sleep(timeout)
        return []

    def close(self):
        pass

    def get_map(self):
        return {}


class WasiEventLoop(asyncio.base_events.BaseEventLoop):
    def __init__(self):
        super().__init__()
        self._selector = _TimerOnlySelector()

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        # Single-threaded guest: nothing to wake.
        pass


def install() -> None:
    # asyncio.run() -> Runner -> events.new_event_loop() -> policy._loop_factory().
    policy_cls = getattr(asyncio.events, "_BaseDefaultEventLoopPolicy", None)
    import asyncio.unix_events as unix_events

    unix_events._UnixDefaultEventLoopPolicy._loop_factory = WasiEventLoop
    unix_events.SelectorEventLoop = WasiEventLoop
    asyncio.SelectorEventLoop = WasiEventLoop
    if hasattr(asyncio, "EventLoop"):
        asyncio.EventLoop = WasiEventLoop
    if hasattr(unix_events, "EventLoop"):
        unix_events.EventLoop = WasiEventLoop
    del policy_cls
    # Prove it at build time: a broken loop should fail the build, not a user's run.
    async def _probe():
        await asyncio.sleep(0)
        return 42

    assert asyncio.run(_probe()) == 42
