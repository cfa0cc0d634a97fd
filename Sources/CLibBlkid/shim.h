#ifndef CSTOR_CLIBBLKID_SHIM_H
#define CSTOR_CLIBBLKID_SHIM_H
#include <blkid/blkid.h>
#endif
