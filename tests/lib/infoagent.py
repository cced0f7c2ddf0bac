"""Connecting to a freshly started agent without racing it: qgatest's
Agent returns once the socket file exists, which is after bind() but can
be before listen(), so a first connect() may be refused on a loaded
machine. Used by the guest-information tests."""
import time

import qgatest


def connect(agent):
    deadline = time.time() + qgatest.TIMEOUT
    while True:
        try:
            return agent.connect()
        except ConnectionRefusedError:
            if time.time() > deadline:
                raise
            time.sleep(0.01)


class InfoAgentTest(qgatest.AgentTest):
    """AgentTest whose first connection waits for listen()."""

    @classmethod
    def setUpClass(cls):
        cls.agent = qgatest.Agent(*cls.agent_args, env=cls.agent_env)
        cls.c = connect(cls.agent)
