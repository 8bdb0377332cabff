/* agora-default-executor: the default executor for task groups (see default.h). */
#include "executor/default.h"

int main(void)
{
    return ag_dex_main();
}
