// inotifytools.h alone only forward-declares struct inotify_event.
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
