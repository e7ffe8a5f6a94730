#include "sensor_skeleton.h"

struct swiftmon_sensor *sm_sensor_open(void)
{
    return swiftmon_sensor__open();
}

int sm_sensor_load(struct swiftmon_sensor *sensor)
{
    return swiftmon_sensor__load(sensor);
}

void sm_sensor_destroy(struct swiftmon_sensor *sensor)
{
    swiftmon_sensor__destroy(sensor);
}
