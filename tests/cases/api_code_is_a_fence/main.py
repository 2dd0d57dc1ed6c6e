```python
print('fenced')
```
