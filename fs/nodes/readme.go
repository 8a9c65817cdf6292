package nodes

// readme is the README file at the top of the mount.
const readme = `boxlitefs: BoxLite boxes as files

boxes/NAME/                 one box. mkdir boxes/NAME makes an empty box,
                            rmdir removes it (with its snapshots), mv renames it.
  box.json                  what the box is: id, name, image, status, sizes, origin.
  state                     stopped or running (also snapshotting, restoring,
                            exporting while that happens). echo running > state
                            starts the box, echo stopped > state stops it.
  guest-rootfs.qcow2        the guest disk as one standalone qcow2 image.
  disk.qcow2                the container disk, likewise. Copy either out with cp;
                            write a whole image (qcow2 or raw) into it to replace
                            the disk of a stopped box.
  restore                   echo SNAP > restore brings the box back to snapshot SNAP.
  export.boxsnap            cat it to get an archive of the box (tar + zstd). Not
                            listed, so that cp -r and du never make one by accident.
  settings/                 one file per option; echo a new value into a file.
  snapshots/SNAP/           mkdir makes a snapshot, rmdir removes it, mv renames it.
    snapshot.json           what the snapshot is.
    guest-rootfs.qcow2      its frozen disks, read-only.
    disk.qcow2
    export.boxsnap          an archive of this snapshot. Not listed.

import/                     cp backup.boxsnap import/NAME.boxsnap creates box NAME
                            once the whole archive is written and verified.
clones/NAME/                cp -r boxes/X clones/NAME makes box NAME, a copy-on-write
                            clone of X, at once whatever the size of its disks;
                            copying boxes/X/snapshots/S there clones that snapshot.
                            rsync, file managers and other tools that copy bytes make
                            a clone too, storing only what differs from X. Copying
                            back a box directory that was copied out restores it. A
                            copy of anything else is refused ("Invalid argument").
                            Once the copy is over, clones/NAME is the box, as
                            boxes/NAME; rmdir clones/NAME removes it, mv renames it.
log                         recent operations and refusals, newest last.

Errors: "No such file or directory" (no such box or snapshot), "File exists" (name
taken), "Invalid argument" (bad name or value), "Device or resource busy" (the box's
state forbids it now), "Permission denied" (generated, read-only), "Bad message"
(an archive or image failed verification). The log says why.
`
