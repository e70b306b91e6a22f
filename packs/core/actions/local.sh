#!/bin/sh
# Parameters arrive as JSON on stdin; the worker passes cmd to the shell.
cat
