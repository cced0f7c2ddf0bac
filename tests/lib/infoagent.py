"""The base class of the guest-information tests."""
import qgatest


def connect(agent):
    """agent.connect(); qgatest.Conn itself waits for listen()."""
    return agent.connect()


class InfoAgentTest(qgatest.AgentTest):
    """AgentTest whose first connection waits for listen()."""

    @classmethod
    def setUpClass(cls):
        cls.agent = qgatest.Agent(*cls.agent_args, env=cls.agent_env)
        cls.c = connect(cls.agent)
