"""GUEST_SUSPEND reaches the host before the agent acts (docs/protocol.md
§14.2). A suspended guest stops everything at once, the agent's main thread
included; so the fake systemctl here stops the agent (SIGSTOP, as the
guest's sleep would) the moment it is asked to suspend, and the event must
already be in the socket. qgad only: qemu-ga has no events, and runs
/bin/systemctl by its absolute path, not a fake on PATH. (guest-shutdown
runs /sbin/shutdown by its absolute path: not here, it would be real.)"""
import os
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import AgentTest, is_qemu_ga, main  # noqa: E402

# How long a test waits for something that must happen (not a timing claim).
PATIENCE = 10

# systemctl as the agent uses it: "status UNIT" says the unit is known
# (LSB status 3, inactive); an action freezes the caller as the guest's
# sleep would.
FAKE_SYSTEMCTL = """#!/bin/sh
case "$1" in
status) exit 3 ;;
*) echo "$@" >> "$QGA_TEST_POWER_LOG"; kill -STOP $PPID; exit 0 ;;
esac
"""


class PowerEvents(AgentTest):
    @classmethod
    def setUpClass(cls):
        if is_qemu_ga():
            raise unittest.SkipTest('qgad only')
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, 'systemctl')
        with open(path, 'w') as f:
            f.write(FAKE_SYSTEMCTL)
        os.chmod(path, 0o755)
        cls.log = os.path.join(cls.tmp.name, 'power.log')
        cls.agent_env = {'PATH': cls.tmp.name + ':' + os.environ['PATH'],
                         'QGA_TEST_POWER_LOG': cls.log}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tmp.cleanup()

    def setUp(self):
        self.c.cmd('request-negotiation', id='n')
        self.assertEqual(self.c.cmd('qmp_capabilities', {'enable': ['events']}),
                         {'return': {}})

    def tearDown(self):
        os.kill(self.agent.proc.pid, signal.SIGCONT)
        self.c.close()
        type(self).c = self.agent.connect()

    def stopped(self):
        with open('/proc/%d/stat' % self.agent.proc.pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'T'

    def acted(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def expect_event_while_stopped(self, name, mode, action):
        """Once the agent has acted and is stopped, the event is there."""
        deadline = time.time() + PATIENCE
        try:
            while not (self.acted()[-1:] == [action] and self.stopped()):
                self.assertLess(time.time(), deadline, 'the agent never acted')
                time.sleep(0.01)
            ev = self.c.reply(timeout=1)
        finally:
            os.kill(self.agent.proc.pid, signal.SIGCONT)
        self.assertEqual((ev.get('event'), ev.get('data')), (name, {'mode': mode}), ev)

    def test_suspend_event_before_sleep(self):
        # Success has no reply (success-response: false): only the event.
        self.c.request('guest-suspend-ram')
        self.expect_event_while_stopped('GUEST_SUSPEND', 'ram', 'suspend')
        self.assertTrue(self.c.no_reply(0.3))
        self.assertEqual(self.c.cmd('guest-ping'), {'return': {}})


if __name__ == '__main__':
    main()
