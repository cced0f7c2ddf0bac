/* qga_disk_address() (shared by guest-get-disks and guest-get-fsinfo) against fake sysfs device paths, one per bus. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include "udevlib.h"

#include "diskaddr.h"

static char root[64];	/* a mkdtemp name under /tmp */

static void
mkdirs(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* rel/driver -> .../drivers/<name> */
static void
driver(const char *rel, const char *name)
{
	char path[PATH_MAX], target[PATH_MAX];

	mkdirs(rel);
	snprintf(path, sizeof(path), "%s/%s/driver", root, rel);
	snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", name);
	assert_int_equal(symlink(target, path), 0);
}

/* The address of the fake device rel, as compact JSON (caller frees). */
static char *
address(const char *rel)
{
	char path[PATH_MAX];
	struct udev *udev = qga_udev_new();
	json_t *a;
	char *s;

	mkdirs(rel);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	a = qga_disk_address(udev, path);
	qga_udev_unref(udev);
	if (a == NULL)
		return NULL;
	s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(a);
	return s;
}

static void
expect(const char *rel, const char *want)
{
	char *got = address(rel);

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

#define PCI(d, b, s, f) "\"pci-controller\":{\"bus\":" #b ",\"domain\":" #d \
	",\"function\":" #f ",\"slot\":" #s "}"
#define ADDR(bus, type, pci, tgt, unit) "{\"bus\":" #bus ",\"bus-type\":\"" \
	type "\"," pci ",\"target\":" #tgt ",\"unit\":" #unit "}"

static void
test_virtio_blk(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:02.0", "virtio-pci");
	expect("devices/pci0000:00/0000:00:02.0/virtio1/block/vda",
	    ADDR(0, "virtio", PCI(0, 0, 2, 0), 0, 0));
}

static void
test_virtio_scsi(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:05.0", "virtio-pci");
	expect("devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:3/"
	    "0:0:3:4/block/sdc", ADDR(0, "scsi", PCI(0, 0, 5, 0), 0, 4));
}

static void
test_ahci_unit_is_port_index(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:1f.2", "ahci");
	mkdirs("devices/pci0000:00/0000:00:1f.2/ata1");
	mkdirs("devices/pci0000:00/0000:00:1f.2/ata2");
	mkdirs("devices/pci0000:00/0000:00:1f.2/ata5");
	expect("devices/pci0000:00/0000:00:1f.2/ata5/host4/target4:0:0/"
	    "4:0:0:0/block/sda", ADDR(0, "sata", PCI(0, 0, 31, 2), 0, 2));
}

static void
test_ide_bus_and_unit(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:01.1", "ata_piix");
	mkdirs("devices/pci0000:00/0000:00:01.1/ata1");
	mkdirs("devices/pci0000:00/0000:00:01.1/ata2");
	expect("devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:1/"
	    "1:0:1:0/block/sdb", ADDR(1, "ide", PCI(0, 0, 1, 1), 0, 1));
}

static void
test_ide_without_target_is_unknown(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:01.2", "ata_piix");
	expect("devices/pci0000:00/0000:00:01.2/ata7/block/sdz", NULL);
}

static void
test_lsi_scsi(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:07.0", "sym53c8xx");
	expect("devices/pci0000:00/0000:00:07.0/host3/target3:0:5/3:0:5:0/"
	    "block/sdd", ADDR(0, "scsi", PCI(0, 0, 7, 0), 0, 5));
}

static void
test_nvme_behind_bridge(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:1c.0", "pcieport");
	driver("devices/pci0000:00/0000:00:1c.0/0000:01:00.0", "nvme");
	expect("devices/pci0000:00/0000:00:1c.0/0000:01:00.0/nvme/nvme0/"
	    "nvme0n1", ADDR(0, "nvme", PCI(0, 1, 0, 0), 0, 0));
}

static void
test_usb(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:0d.0", "xhci_hcd");
	expect("devices/pci0000:00/0000:00:0d.0/usb2/2-1/2-1:1.0/host6/"
	    "target6:0:0/6:0:0:0/block/sde", ADDR(0, "usb", PCI(0, 0, 13, 0),
	    0, 0));
}

static void
test_unknown_driver_gives_nothing(void **state)
{
	(void)state;
	driver("devices/pci0000:00/0000:00:09.0", "megaraid_sas");
	expect("devices/pci0000:00/0000:00:09.0/host9/target9:0:0/9:0:0:0/"
	    "block/sdf", NULL);
}

static void
test_ccw_virtio(void **state)
{
	(void)state;
	expect("devices/css0/0.0.0002/0.0.0000/virtio0/block/vda",
	    "{\"bus\":0,\"bus-type\":\"virtio\",\"ccw-address\":{\"cssid\":0,"
	    "\"devno\":0,\"ssid\":0,\"subchno\":2}," PCI(-1, -1, -1, -1)
	    ",\"target\":0,\"unit\":0}");
}

static void
test_mmio_virtio_scsi(void **state)
{
	(void)state;
	expect("devices/platform/a003e00.virtio_mmio/virtio31/host0/"
	    "target0:0:2/0:0:2:3/block/sda", ADDR(0, "scsi",
	    PCI(-1, -1, -1, -1), 2, 3));
}

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/qga-diskaddr-XXXXXX");
	return mkdtemp(root) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_virtio_blk),
		cmocka_unit_test(test_virtio_scsi),
		cmocka_unit_test(test_ahci_unit_is_port_index),
		cmocka_unit_test(test_ide_bus_and_unit),
		cmocka_unit_test(test_ide_without_target_is_unknown),
		cmocka_unit_test(test_lsi_scsi),
		cmocka_unit_test(test_nvme_behind_bridge),
		cmocka_unit_test(test_usb),
		cmocka_unit_test(test_unknown_driver_gives_nothing),
		cmocka_unit_test(test_ccw_virtio),
		cmocka_unit_test(test_mmio_virtio_scsi),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
