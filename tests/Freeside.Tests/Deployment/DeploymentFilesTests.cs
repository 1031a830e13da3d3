using System.Diagnostics;
using System.Text.RegularExpressions;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Deployment;

/// <summary>docker-compose.yml and build.sh, the two ways people start Freeside outside the tests.</summary>
public sealed partial class DeploymentFilesTests : IDisposable
{
    private readonly string _fakeBin = Directory.CreateTempSubdirectory("freeside-fake-apt-").FullName;

    [Fact]
    public void DockerCompose_AdminToken_HasNoDefaultAndIsRequired()
    {
        var compose = File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "docker-compose.yml"));

        var tokens = AdminTokenLine().Matches(compose).Select(m => m.Groups["value"].Value.Trim()).ToList();

        tokens.ShouldNotBeEmpty();
        // ${VAR:?message} makes compose refuse to start when it is unset; ${VAR:-default} would ship a token.
        tokens.ShouldAllBe(value => value.StartsWith("${FREESIDE_ADMIN_TOKEN:?", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AptInstall_LockHeldThenFree_WaitsAndInstalls()
    {
        // Fails twice as apt does while unattended-upgrades holds the lock, then succeeds.
        FakeAptGet("""
            n=$(cat "$STATE_FILE" 2>/dev/null || echo 0); echo $((n+1)) > "$STATE_FILE"
            if [ "$n" -lt 2 ]; then echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2; exit 100; fi
            exit 0
            """);

        var (exitCode, output) = await AptInstallAsync("postgresql");

        exitCode.ShouldBe(0, output);
        output.ShouldContain("holds the lock; waiting");
    }

    [Fact]
    public async Task AptInstall_Fails_ShowsAptsOwnOutput()
    {
        // dpkg's errors come on stdout, which build.sh used to send to /dev/null.
        FakeAptGet("""
            echo "dpkg: error processing package postgresql-17 (--configure): installed post-installation script returned error exit status 1"
            echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2
            exit 100
            """);

        var (exitCode, output) = await AptInstallAsync("postgresql");

        exitCode.ShouldNotBe(0);
        output.ShouldContain("dpkg: error processing package postgresql-17");
        output.ShouldContain("Sub-process /usr/bin/dpkg returned an error code (1)");
    }

    /// <summary>Stopping stops the last started first: the host before the stand-ins, Redis and PostgreSQL it uses.</summary>
    [Fact]
    public async Task BuildScript_Stop_StopsInReverseOrderOfStart()
    {
        var script = """
            source ./build.sh
            stop_postgres() { echo postgres; }
            stop_redis() { echo redis; }
            kill() { echo "kill $*"; }
            wait() { :; }
            CHAIN_DIR=/nonexistent
            WEB_PID=101 FINN_PID=102
            STARTED=(postgres redis anvil finn web)
            stop_started
            echo "left ${#STARTED[@]}"
            """;
        var start = new ProcessStartInfo("bash", ["-c", script])
        {
            WorkingDirectory = TestEnvironment.RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();

        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).ShouldBe(["kill 101", "kill 102", "redis", "postgres", "left 0"]);
    }

    private void FakeAptGet(string body)
    {
        var path = Path.Combine(_fakeBin, "apt-get");
        File.WriteAllText(path, "#!/bin/sh\nSTATE_FILE=\"$(dirname \"$0\")/count\"\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private async Task<(int ExitCode, string Output)> AptInstallAsync(string package)
    {
        var script = $"""
            source ./build.sh
            as_root() {"{"} return 0; {"}"}
            STATE='{_fakeBin}/state'
            APT_LOCK_POLL_SECONDS=0
            PATH='{_fakeBin}':"$PATH"
            apt_install {package}
            """;
        var start = new ProcessStartInfo("bash", ["-c", script])
        {
            WorkingDirectory = TestEnvironment.RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    public void Dispose() => Directory.Delete(_fakeBin, recursive: true);

    [GeneratedRegex(@"^\s*FREESIDE_ADMIN_TOKEN:\s*(?<value>.+)$", RegexOptions.Multiline)]
    private static partial Regex AdminTokenLine();
}
