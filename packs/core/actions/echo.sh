#!/bin/sh
# Parameters arrive as JSON on stdin (Attune's default parameter delivery).
cat
