# The size report of one OS image (build-os-image.sh, size_report), in
# Markdown. Input: packages.tsv of fetch-packages.sh, one package a line:
#   NAME <tab> VERSION <tab> ROLE <tab> APK_BYTES <tab> INSTALLED_BYTES
# ROLE: world (installed at boot), docker (installed at boot, there for
# Docker alone), carried (on the media, not installed).
# Variables: name, type, budget (MB), total, kernel, overlay, repo (bytes),
# work (MiB the RAM root needs besides the packages), verdict_out (a file
# that gets one line: "ok ...", "docker ..." or "over ...").
function mb(b) { return sprintf("%.1f", b / 1000000) }
function mib(b) { return b / 1048576 }
{
	n++
	pkg[n] = $1; ver[n] = $2; role[n] = $3; apk[n] = $4; inst[n] = $5
	count[$3]++; apks[$3] += $4
	if ($3 != "carried") installed += $5
}
END {
	limit = budget * 1000000
	rest = total - kernel - repo - overlay
	print "### " name
	print ""
	print "| part | MB |"
	print "|---|---:|"
	printf "| total, before xz | %s |\n", mb(total)
	printf "| kernel, initramfs, modloop | %s |\n", mb(kernel)
	printf "| packages (rccr-apks/, %d) | %s |\n", n, mb(repo)
	if (count["docker"]) printf "| of which Docker's (%d packages only Docker needs) | %s |\n", count["docker"], mb(apks["docker"])
	if (count["carried"]) printf "| of which carried, not installed (%d) | %s |\n", count["carried"], mb(apks["carried"])
	printf "| overlay | %s |\n", mb(overlay)
	printf "| the rest: boot loaders, firmware, file system | %s |\n", mb(rest)
	printf "| budget (%s) | %d |\n", type, budget
	print ""
	if (total <= limit) {
		kind = "ok"
		verdict = sprintf("%s MB, within the %s budget of %d MB", mb(total), type, budget)
	} else if (apks["docker"] >= total - limit) {
		kind = "docker"
		verdict = sprintf("over the %s budget of %d MB by %s MB with Docker on board: Docker's packages alone take %s MB, and without them the image would be %s MB", type, budget, mb(total - limit), mb(apks["docker"]), mb(total - apks["docker"]))
	} else {
		kind = "over"
		verdict = sprintf("%s MB, over the %s budget of %d MB by %s MB%s", mb(total), type, budget, mb(total - limit), count["docker"] ? sprintf(" (%s MB more than Docker's packages)", mb(total - limit - apks["docker"])) : "")
	}
	print "Budget: " verdict
	if (verdict_out != "") print kind ": " verdict > verdict_out
	if (n) {
		ram = 2 * (mib(installed) + work)
		fits = 256
		while (fits < ram) fits *= 2
		print ""
		printf "Minimum RAM: %d MiB (fits %d MB): the installed packages take %.0f MiB, and the RAM root, a tmpfs of half the RAM, holds them and %d MiB more.\n", int(ram + 0.999), fits, mib(installed), work
		print ""
		print "Ten largest packages:"
		print ""
		print "| package | version | role | apk MB | installed MB |"
		print "|---|---|---|---:|---:|"
		for (shown = 0; shown < 10 && shown < n; shown++) {
			best = 0
			for (i = 1; i <= n; i++) if (!done[i] && (best == 0 || apk[i] > apk[best])) best = i
			done[best] = 1
			printf "| %s | %s | %s | %s | %s |\n", pkg[best], ver[best], role[best], mb(apk[best]), mb(inst[best])
		}
	}
}
