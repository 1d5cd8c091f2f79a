# dicomdrop: the two commands of the README, and what they need.
#   make run    install missing system packages, build release, run the daemon on watch.yaml
#   make test   install what the tests need, fetch the corpus and its pydicom oracle, run swift test

SWIFT        ?= swift
CONFIG       ?= watch.yaml
# bench-peers runs every peer this many times in turn and reports medians: dicomdrop's run
# of 2,000 files lasts under 3 s, and one run each moved its ratios by 15% between runs.
PEER_ROUNDS  ?= 3
# System libraries the package links (module maps under Sources/C*).
APT_PACKAGES := zlib1g-dev libpng-dev libsqlite3-dev libinotifytools0-dev libjpeg62-turbo-dev libopenjp2-7-dev libcharls-dev pkg-config
# What the tests need beyond that: Python and pip for the pydicom oracle; dcmtk (dcmcjpeg,
# dcmcjpls, dcmdjpeg, dcmdjpls) and OpenJPH (ojph_compress, ojph_expand) to make and
# cross-check the compressed corpus (scripts/make-compressed-corpus, scripts/pixel-oracle);
# bindfs for a FUSE drop directory that inotify cannot see into (NetworkMountTests); time (GNU
# time) for the peak RSS of a run (HostileInputTests); the sqlite3 shell, in which the README's
# queries are run against a ledger a daemon writes (DatasetTests); the openssl command, the
# fast SHA-256 floor of scripts/bench-peers (bench-smoke runs it).
APT_TEST_PACKAGES := python3 python3-pip dcmtk openjph-tools bindfs time sqlite3 chromium openssl
PYDICOM      := pydicom==3.0.2
NUMPY        := numpy
PILLOW       := pillow
# pydicom's decoders for JPEG, JPEG-LS, JPEG 2000/HTJ2K and RLE behind the pixel oracle.
PYLIBJPEG    := pylibjpeg==2.1.0 pylibjpeg-libjpeg==2.5.0 pylibjpeg-openjpeg==2.6.0 pylibjpeg-rle==2.2.0
SUDO         := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: run test build deps test-deps corpus bench-parse bench-peers bench-targets bench-daemon bench-render bench-memory bench-decode bench-large chaos-kill event-storm watch-limit half-copies soak clean

run: deps
	$(SWIFT) build -c release --product dicomdrop
	$$($(SWIFT) build -c release --show-bin-path)/dicomdrop --config $(CONFIG)

build: deps
	$(SWIFT) build

test: deps test-deps corpus
	$(SWIFT) build --build-tests
	$(SWIFT) test
	scripts/bench-smoke

# Installs only the packages that are missing, so a warm machine pays nothing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

test-deps:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi
	@# Debian's own python3 refuses pip installs (PEP 668) unless told; a pyenv one does not.
	@python3 -c 'import pydicom, sys; sys.exit(pydicom.__version__ != "3.0.2")' 2>/dev/null \
		|| python3 -m pip install --quiet $(PYDICOM) 2>/dev/null \
		|| python3 -m pip install --quiet --break-system-packages $(PYDICOM)
	@# numpy: pydicom's pixel functions behind corpus/pixel-oracle.json; scikit-learn:
	@# scripts/fit-quality-model, which a test runs.
	@python3 -c 'import numpy, sklearn' 2>/dev/null \
		|| python3 -m pip install --quiet $(NUMPY) scikit-learn 2>/dev/null \
		|| python3 -m pip install --quiet --break-system-packages $(NUMPY) scikit-learn
	@# Pillow: scripts/make-plain-dataset and the plain image tests' reference decoding.
	@python3 -c 'import PIL' 2>/dev/null \
		|| python3 -m pip install --quiet $(PILLOW) 2>/dev/null \
		|| python3 -m pip install --quiet --break-system-packages $(PILLOW)
	@python3 -c 'import pylibjpeg, libjpeg, openjpeg, rle' 2>/dev/null \
		|| python3 -m pip install --quiet $(PYLIBJPEG) 2>/dev/null \
		|| python3 -m pip install --quiet --break-system-packages $(PYLIBJPEG)

# The pydicom 3.0.2 and pydicom-data wheels from PyPI, unpacked into corpus/ (ignored), the
# compressed files made from them (corpus/files/generated/, corpus/generated-twins.json),
# pydicom's reading of every file (corpus/oracle.json) and of every image's pixels
# (corpus/pixel-oracle.json) for the conformance tests. Each oracle reruns when its script,
# the unpacked wheels or the generated files are newer than its output.
corpus: test-deps
	python3 scripts/fetch-corpus corpus
	python3 scripts/make-compressed-corpus corpus
	@if [ ! -f corpus/oracle.json ] || [ scripts/pydicom-oracle -nt corpus/oracle.json ] || [ corpus/.unpacked -nt corpus/oracle.json ] \
		|| [ corpus/generated-twins.json -nt corpus/oracle.json ]; then \
		python3 scripts/pydicom-oracle corpus; fi
	@# pydicom's (or dcmtk's, or the twin's) decoding and rendering of every image (corpus/pixel-oracle.json).
	@if [ ! -f corpus/pixel-oracle.json ] || [ scripts/pixel-oracle -nt corpus/pixel-oracle.json ] || [ corpus/.unpacked -nt corpus/pixel-oracle.json ] \
		|| [ corpus/generated-twins.json -nt corpus/pixel-oracle.json ]; then \
		python3 scripts/pixel-oracle corpus; fi

bench-parse: deps test-deps
	scripts/bench-parse

bench-daemon: deps test-deps
	scripts/bench-daemon

bench-render: deps test-deps
	scripts/bench-render

# Every peer in one run; the table goes into docs/PERFORMANCE.md. Orthanc is installed here
# only (Debian's package enables its own service on port 8042, which the tests do not need);
# the script runs an instance of its own on loopback.
bench-peers: deps test-deps
	@command -v Orthanc >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq orthanc; }
	scripts/bench-peers 2000 docs/PERFORMANCE.md --rounds $(PEER_ROUNDS)

# Issue 16's other targets: peak RSS over 20,000 files, the no-op rescan of 100,000, the
# latency of a one-file drop; the lines go into docs/PERFORMANCE.md.
bench-targets: deps test-deps
	scripts/bench-targets 20000 100000 20 docs/PERFORMANCE.md

bench-memory: deps test-deps
	scripts/bench-memory

bench-large: deps test-deps
	scripts/bench-large

bench-decode: deps test-deps
	scripts/bench-decode

clean:
	rm -rf .build corpus

chaos-kill: deps test-deps
	scripts/chaos-kill

event-storm: deps
	scripts/event-storm

watch-limit: deps
	scripts/watch-limit

half-copies: deps test-deps
	scripts/half-copies

soak: deps test-deps
	scripts/soak
