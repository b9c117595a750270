/* banned.h - functions we never call: each has a bounded or argv-based replacement
 * (snprintf, str_*(), safe_atou(), jail spawn). Included last by every .c file. */
#pragma once

#undef strcpy
#define strcpy(...) BANNED_use_snprintf_instead
#undef strcat
#define strcat(...) BANNED_use_snprintf_instead
#undef sprintf
#define sprintf(...) BANNED_use_snprintf_instead
#undef vsprintf
#define vsprintf(...) BANNED_use_vsnprintf_instead
#undef strtok
#define strtok(...) BANNED_use_strtok_r_instead
#undef atoi
#define atoi(...) BANNED_use_safe_atou_instead
#undef atol
#define atol(...) BANNED_use_safe_atou_instead
#undef system
#define system(...) BANNED_use_argv_spawn_instead
#undef popen
#define popen(...) BANNED_use_argv_spawn_instead
#undef gets
#define gets(...) BANNED_use_fgets_instead
