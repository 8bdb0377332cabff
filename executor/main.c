/* agora-executor: the built-in command executor (see command.h). */
#include "executor/command.h"

int main(void)
{
    return ag_cmd_main();
}
