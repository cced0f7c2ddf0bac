"""guest-get-time, guest-get-timezone and the argument checks of
guest-shutdown that answer before anything runs. Runs against qgad and
qemu-ga. guest-set-time, the shutdown itself and guest-suspend-* change
the machine: their logic is in tests/unit (test_time.c, test_power.c)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import main  # noqa: E402
from qgaaction import ActionTest  # noqa: E402


class TestTime(ActionTest):
    def test_get_time(self):
        before = time.time_ns()
        t = self.c.ok('guest-get-time')
        after = time.time_ns()
        self.assertIsInstance(t, int)
        self.assertEqual(t % 1000, 0, 'microsecond resolution, like qemu-ga')
        self.assertGreaterEqual(t, before - 1000)
        self.assertLessEqual(t, after)

    def test_utc(self):
        self.assertEqual(self.c.ok('guest-get-timezone'), {'zone': 'UTC', 'offset': 0})


class TestZone(ActionTest):
    agent_env = {'TZ': 'ABC-3'}

    def test_posix_tz(self):
        self.assertEqual(self.c.ok('guest-get-timezone'), {'zone': 'ABC', 'offset': 10800})


class TestZoneWest(ActionTest):
    agent_env = {'TZ': 'XYZ+5:30'}

    def test_posix_tz(self):
        self.assertEqual(self.c.ok('guest-get-timezone'),
                         {'zone': 'XYZ', 'offset': -(5 * 3600 + 30 * 60)})


class TestShutdownArgs(ActionTest):
    def test_bad_modes(self):
        for mode in ('', 'Halt', 'poweroff', 'suspend'):
            r = self.c.cmd('guest-shutdown', {'mode': mode}, id=7)
            # Errors are answered, with the id, though success is not.
            self.assertEqual(r.get('id'), 7)
            self.assertError(r, desc='mode is invalid (valid values are: '
                             'halt|powerdown|reboot')
        r = self.c.cmd('guest-shutdown', {'mode': 1})
        self.assertError(r)


if __name__ == '__main__':
    main()
