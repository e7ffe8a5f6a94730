#include "linux_syscalls.h"
