/* agora-master: the master daemon as its own binary. */
#include "master/master.h"

int main(int argc, char **argv)
{
    return ag_master_main(argc, argv);
}
