/* libudev through dlopen: see udevlib.h. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "log.h"
#include "udevlib.h"

static struct {
	struct udev	*(*new_)(void);
	struct udev	*(*unref)(struct udev *);
	struct udev_device *(*device_new_from_syspath)(struct udev *, const char *);
	const char	*(*device_get_devnode)(struct udev_device *);
	const char	*(*device_get_property_value)(struct udev_device *, const char *);
	struct udev_device *(*device_unref)(struct udev_device *);
} lib;
static int loaded;		/* 1: every symbol above is set */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
load(void)
{
	void *h = dlopen(QGA_LIBUDEV_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		qga_log(QGA_LOG_DEBUG, "udev: %s", dlerror());
		return;
	}
	/* POSIX's way from a data pointer to a function pointer. */
	*(void **)&lib.new_ = dlsym(h, "udev_new");
	*(void **)&lib.unref = dlsym(h, "udev_unref");
	*(void **)&lib.device_new_from_syspath = dlsym(h, "udev_device_new_from_syspath");
	*(void **)&lib.device_get_devnode = dlsym(h, "udev_device_get_devnode");
	*(void **)&lib.device_get_property_value =
	    dlsym(h, "udev_device_get_property_value");
	*(void **)&lib.device_unref = dlsym(h, "udev_device_unref");
	if (lib.new_ && lib.unref && lib.device_new_from_syspath &&
	    lib.device_get_devnode && lib.device_get_property_value &&
	    lib.device_unref)
		loaded = 1;
	else {
		qga_log(QGA_LOG_WARNING, "udev: %s lacks a function the agent uses",
		    QGA_LIBUDEV_SONAME);
		dlclose(h);
	}
}

struct udev *
qga_udev_new(void)
{
	pthread_once(&once, load);
	return loaded ? lib.new_() : NULL;
}

/* Every object below came from qga_udev_new(): loaded is set and read
 * after the pthread_once that set it. */
void
qga_udev_unref(struct udev *udev)
{
	if (udev)
		lib.unref(udev);
}

struct udev_device *
qga_udev_device_new_from_syspath(struct udev *udev, const char *syspath)
{
	return udev ? lib.device_new_from_syspath(udev, syspath) : NULL;
}

const char *
qga_udev_device_get_devnode(struct udev_device *dev)
{
	return dev ? lib.device_get_devnode(dev) : NULL;
}

const char *
qga_udev_device_get_property_value(struct udev_device *dev, const char *key)
{
	return dev ? lib.device_get_property_value(dev, key) : NULL;
}

void
qga_udev_device_unref(struct udev_device *dev)
{
	if (dev)
		lib.device_unref(dev);
}
