// Empty: the target exists for its header, include/swiftmon_records.h.
#include "swiftmon_records.h"
