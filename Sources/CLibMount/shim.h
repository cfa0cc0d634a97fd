#ifndef CSTOR_CLIBMOUNT_SHIM_H
#define CSTOR_CLIBMOUNT_SHIM_H
#include <libmount/libmount.h>
#endif
