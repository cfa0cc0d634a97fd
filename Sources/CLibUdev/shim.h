#ifndef CSTOR_CLIBUDEV_SHIM_H
#define CSTOR_CLIBUDEV_SHIM_H
#include <libudev.h>
#endif
