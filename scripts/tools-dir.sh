#!/usr/bin/env bash
# Prints the folder the test tools are cached in (Garage, npm packages, the Swift chroot,
# Android jars, cargo-fuzz): $CHATVAULT_TOOLS if set, else a cache outside any clone, so a
# fresh clone reuses what an earlier run installed. Each tool sits in a folder keyed by its
# version; a new version installs beside the old one.
echo "${CHATVAULT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/chatvault-tools}"
