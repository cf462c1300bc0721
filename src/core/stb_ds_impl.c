/* The one translation unit that instantiates stb_ds (hash maps, dynamic
 * arrays; Debian libstb-dev). Other files include <stb/stb_ds.h> plainly. */
#define STB_DS_IMPLEMENTATION
#include <stb/stb_ds.h>
