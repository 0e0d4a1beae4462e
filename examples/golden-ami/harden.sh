#!/bin/sh
# Hardening for the golden machine image. It runs inside the machine being
# built (bakery-chroot here; over SSH with a cloud builder) and needs no network.
set -eu

# A fixed, unprivileged service account.
groupadd --system --gid 10001 app
useradd --system --uid 10001 --gid app --home-dir /srv/app --create-home --shell /usr/sbin/nologin app

# No password logins for root: access is by the cloud's key injection only.
passwd -l root

# No setuid/setgid binaries: nothing on the machine can gain privileges.
find / -xdev -perm /6000 -type f -print0 | xargs -0 -r chmod a-s

# Kernel network hardening, applied at boot.
mkdir -p /etc/sysctl.d
cat > /etc/sysctl.d/90-golden.conf <<'CONF'
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.tcp_syncookies = 1
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
CONF

# Tight defaults for files services create, and a banner that says what this is.
echo 'umask 027' > /etc/profile.d/umask.sh
printf 'Golden image baked by bakery. Changes here are lost: rebuild instead.\n' > /etc/motd

# No caches or logs from the build in the image.
rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /var/log/*.log
