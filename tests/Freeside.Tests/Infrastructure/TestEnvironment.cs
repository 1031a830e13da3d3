namespace Freeside.Tests.Infrastructure;

/// <summary>Where the private cluster and Redis are; build.sh test sets these.</summary>
public static class TestEnvironment
{
    public static string PostgresAdminUrl =>
        Environment.GetEnvironmentVariable("FREESIDE_TEST_PG")
        ?? throw new InvalidOperationException("FREESIDE_TEST_PG is not set; run the tests with ./build.sh test.");

    public static string? RedisUrl => Environment.GetEnvironmentVariable("REDIS_URL");

    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Freeside.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new DirectoryNotFoundException("Freeside.sln was not found above the test binaries.");
        }
    }
}
