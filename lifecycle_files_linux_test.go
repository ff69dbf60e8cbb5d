package folio

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLifecycleMmapOptionsLinux: flags Linux refuses for a file
// mapping (MAP_HUGETLB outside hugetlbfs: EINVAL; MAP_SYNC without
// MAP_SHARED_VALIDATE on a file without DAX: EOPNOTSUPP; a bit of the
// mapping type: EINVAL) are ErrInvalidOptions too, and create nothing.
func TestLifecycleMmapOptionsLinux(t *testing.T) {
	checkMmapOptions(t, []mmapCase{
		{"MAP_HUGETLB", Options{MmapFlags: unix.MAP_HUGETLB}, "MmapFlags"},
		{"MAP_SYNC", Options{MmapFlags: unix.MAP_SYNC}, "MmapFlags"},
		{"MAP_TYPE bit 4", Options{MmapFlags: 0x4}, "MmapFlags"},
		{"MAP_FIXED_NOREPLACE", Options{MmapFlags: unix.MAP_FIXED_NOREPLACE}, "MmapFlags"},
		{"MAP_POPULATE with MaxInt", Options{MmapFlags: unix.MAP_POPULATE, InitialMmapSize: math.MaxInt}, "InitialMmapSize"},
	})
}
