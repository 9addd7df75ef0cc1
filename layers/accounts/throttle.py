"""Login throttling: after too many failures for one account or from one address, wait.

Kept in memory (per server process): a sliding window of failure times per
key. Each key is limited separately, so a flood from one address cannot lock
an account out for everybody else for long, and guessing one password on many
accounts from one address is still slowed by the address limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from geo.errors import TooManyAttempts


class LoginThrottle:
    def __init__(self, *, per_account: int = 5, per_address: int = 20, window_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def check(self, account: str, address: str) -> None:
        """Raise TooManyAttempts when either key is over its limit (before the password is even checked)."""
        now = self.clock()
        with self._lock:
            for key, limit in ((f"u:{account.lower()}", self.per_account), (f"a:{address}", self.per_address)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = int(q[0] + self.window_s - now) + 1
                    raise TooManyAttempts(
                        f"登录失败次数过多，请 {wait} 秒后再试 / too many failed logins; try again in {wait} s",
                        retry_after=wait)

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._recent(f"u:{account.lower()}", now).append(now)
            self._recent(f"a:{address}", now).append(now)
            if len(self._failures) > 100_000:  # a flood of made-up names must not grow memory without bound
                self._failures = {k: q for k, q in self._failures.items() if q and q[-1] > now - self.window_s}

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._failures.pop(f"u:{account.lower()}", None)
