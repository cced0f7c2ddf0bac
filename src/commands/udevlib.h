/*
 * libudev, loaded the first time a command asks for it (guest-get-disks,
 * guest-get-fsinfo) instead of at start-up: an idle agent does not map it
 * (92 kB of its RSS), and a guest without libudev.so.1 still runs the agent,
 * those commands then answering as they do when udev_new() fails. The
 * functions are libudev's, prefixed; all accept NULL where libudev does.
 */
#ifndef QGA_UDEVLIB_H
#define QGA_UDEVLIB_H

#include <libudev.h>

/* The soname looked for (what the libudev1 package ships). */
#define QGA_LIBUDEV_SONAME	"libudev.so.1"

/* NULL when libudev cannot be loaded, or udev_new() fails. */
struct udev	*qga_udev_new(void);
void		 qga_udev_unref(struct udev *udev);
struct udev_device *qga_udev_device_new_from_syspath(struct udev *udev,
		    const char *syspath);
const char	*qga_udev_device_get_devnode(struct udev_device *dev);
const char	*qga_udev_device_get_property_value(struct udev_device *dev,
		    const char *key);
void		 qga_udev_device_unref(struct udev_device *dev);

#endif
