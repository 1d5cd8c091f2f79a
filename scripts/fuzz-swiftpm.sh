# Sourced by the fuzz scripts whose target spans several of dicomdrop's modules, some of
# which import Swift packages (Yams, swift-crypto) or the C codec libraries.
#
# Why not `swift build --sanitize fuzzer`: SwiftPM's objects are instrumented, but their
# coverage never reaches libFuzzer (measured: the pixel harness saw 69 edges on CT_small, all
# in C and in the harness, and no DICOM or Imaging function in its PC table). So only the
# packages, which are not what is fuzzed, come from SwiftPM (built with AddressSanitizer into
# .build-fuzz/spm); dicomdrop's own modules are compiled here one by one with
# `swiftc -sanitize=fuzzer,address`, the way scripts/fuzz-reader does (1,073 edges on the
# same file).
#   fuzz_modules MODULE...             builds each of dicomdrop's modules (in order) and
#                                      the C targets they use, into .build-fuzz/modules
#   fuzz_link HARNESS.swift OUTPUT     links a harness against what fuzz_modules built
#   fuzz_run OUTPUT SECONDS CORPUS CRASHES [libFuzzer flags...]
fuzz_out=.build-fuzz
fuzz_spm=$fuzz_out/spm
fuzz_lib=$fuzz_out/modules
fuzz_packages=()   # objects of the Swift packages, when a module needs them

fuzz_c_target() {  # NAME: compiles Sources/NAME/*.c and writes its module map
  local name=$1 header
  header=$(ls "$PWD/Sources/$name/include/"*.h | head -n 1)
  printf 'module %s {\n  umbrella header "%s"\n  export *\n}\n' "$name" "$header" >"$fuzz_lib/$name.modulemap"
  for c in "Sources/$name"/*.c; do
    clang -fsanitize=fuzzer-no-link,address -O1 -g -I"Sources/$name/include" -c "$c" -o "$fuzz_lib/$name-$(basename "$c").o"
  done
}

fuzz_flags() {
  local flags=(-sanitize=fuzzer,address -parse-as-library -O -wmo -suppress-warnings -I "$fuzz_lib"
               -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap -Xcc -fmodule-map-file=Sources/CInotifyTools/module.modulemap)
  local map
  for map in "$fuzz_lib"/*.modulemap; do [ -e "$map" ] && flags+=(-Xcc "-fmodule-map-file=$map"); done
  if [ ${#fuzz_packages[@]} -gt 0 ]; then
    # After our own modules: SwiftPM's Modules folder holds its (uncounted) builds of them too.
    flags+=(-I "$fuzz_spm/release/Modules" -Xcc "-fmodule-map-file=$fuzz_spm/checkouts/Yams/Sources/CYaml/include/module.modulemap")
  fi
  printf '%s\n' "${flags[@]}"
}

fuzz_packages_build() {  # the Swift packages Deidentify and Config import, with ASan
  local target module
  for target in Yams Crypto; do
    swift build -c release --build-path "$fuzz_spm" --sanitize address --target "$target" >/dev/null
  done
  for module in Yams CYaml Crypto CryptoBoringWrapper CCryptoBoringSSL CCryptoBoringSSLShims CXKCP CXKCPShims; do
    while IFS= read -r object; do fuzz_packages+=("$object"); done < <(find "$fuzz_spm/release/$module.build" -name '*.o')
  done
}

fuzz_modules() {
  mkdir -p "$fuzz_lib"
  local module sources flags
  for module in "$@"; do
    case $module in
      Imaging) fuzz_c_target CPNG; fuzz_c_target CCodecs ;;
      Watcher) fuzz_c_target CLinux ;;
      Deidentify) [ ${#fuzz_packages[@]} -gt 0 ] || fuzz_packages_build ;;
    esac
    mapfile -t sources < <(find "Sources/$module" -name '*.swift' | sort)
    mapfile -t flags < <(fuzz_flags)
    # ld.gold's warnings about ASan's local symbols are noise.
    swiftc "${flags[@]}" -module-name "$module" -emit-module -emit-module-path "$fuzz_lib/$module.swiftmodule" \
      -emit-library -static -o "$fuzz_lib/lib$module.a" "${sources[@]}" 2> >(grep -v 'Cannot export local symbol' >&2)
  done
}

fuzz_link() {
  local harness=$1 output=$2 flags libraries=() module
  mapfile -t flags < <(fuzz_flags)
  # Dependents before their dependencies, for the static archives.
  for module in Config Watcher Deidentify Imaging DICOM Shared; do
    [ -e "$fuzz_lib/lib$module.a" ] && libraries+=("-l$module")
  done
  swiftc "${flags[@]}" -module-name "$(basename "$harness" .swift)" -o "$output" "$harness" -L "$fuzz_lib" "${libraries[@]}" \
    "$fuzz_lib"/*.c.o "${fuzz_packages[@]}" -lpng16 -ljpeg -lopenjp2 -lcharls -lz -linotifytools -lstdc++ \
    2> >(grep -v 'Cannot export local symbol' >&2)
}

fuzz_run() {
  local binary=$1 seconds=$2 corpus=$3 crashes=$4
  shift 4
  mkdir -p "$crashes"
  local log="$binary.log" status=0
  # The full log is kept: its last status line has the coverage, which the final stats lack.
  LSAN_OPTIONS="suppressions=$PWD/Tests/Fuzz/lsan-suppressions.txt" \
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" \
    -print_final_stats=1 "$@" "$corpus" >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+' "$log" | tail -n 1
  grep -E '^(==[0-9]+==|SUMMARY|artifact_prefix|Test unit written|Done|stat::)' "$log" | tail -n 25
  echo "crashes: $(find "$crashes" -type f | wc -l) (log: $log)"
  return "$status"
}
