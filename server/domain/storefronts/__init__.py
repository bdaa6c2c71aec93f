"""Storefront webhooks (Shopify, WooCommerce): signatures and order parsers, pure domain code."""
