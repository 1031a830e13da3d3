using Freeside.Features.Payments.Domain;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Freeside.Features.Payments;

internal sealed class PaymentConfiguration : IEntityTypeConfiguration<Payment>
{
    public void Configure(EntityTypeBuilder<Payment> builder)
    {
        builder.ToTable("payments").HasKey(p => p.Id);
        builder.Property(p => p.Status).HasConversion(s => s.ToWire(), s => PaymentStatuses.FromWire(s)!.Value);
    }
}
