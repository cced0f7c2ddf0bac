# The harness's control shell, sourced by /init (so agents are children
# of PID 1 and `wait` reaps them). One command line in, its output and
# "@@END <status>@@" out.

agent_start() {
	: > /run/agent.log
	"$@" </dev/null >>/run/agent.log 2>&1 3>&- &
	echo $! > /run/agent.pid
}

# agent_stop [SIGNAL]: signal the agent and reap it.
agent_stop() {
	pid=$(cat /run/agent.pid 2>/dev/null) || return 0
	kill -"${1:-TERM}" "$pid" 2>/dev/null
	wait "$pid"
	echo "agent exit status $?"
	rm -f /run/agent.pid
}

ctl_serve() {
	while :; do
		# A redirection on a compound command may fail without ending
		# the shell (an `exec 3<>` that fails would: we are PID 1).
		{
			while IFS= read -r line <&3; do
				eval "$line" </dev/null >&3 2>&1
				echo "@@END $?@@" >&3
			done
		} 3<>"$1"
		# EOF: no host on the control port. Wait for one.
		sleep 0.2
	done
}
