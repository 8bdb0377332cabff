/* agora-agent: the agent daemon on its own (same code as `agora agent`). */
#include "agent/agent.h"

int main(int argc, char **argv)
{
    return ag_agent_main(argc, argv);
}
