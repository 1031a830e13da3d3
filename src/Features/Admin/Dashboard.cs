namespace Freeside.Features.Admin;

/// <summary>The dashboard page: one self-contained HTML file (no build step, no CDN), embedded in the assembly.</summary>
internal static class Dashboard
{
    public static string Html { get; } = Load();

    private static string Load()
    {
        using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("Freeside.Features.Admin.dashboard.html")
            ?? throw new InvalidOperationException("The dashboard page is not embedded.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
